"""The inference engine: image I/O, MATLAB-compatible resizing, tiled upscaling."""
