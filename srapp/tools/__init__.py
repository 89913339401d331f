"""Tools beside the runtime: packing training images (``srapp pack-images``)."""
