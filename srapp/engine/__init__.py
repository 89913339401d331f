"""The inference engine: MATLAB-compatible resizing, backends, tiled upscaling (image files are :mod:`srapp.io`)."""
