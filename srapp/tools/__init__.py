"""Tools beside the runtime: packing training images for transfer, converting the LPIPS backbone."""
