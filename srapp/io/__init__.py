"""Image files: header-first reading with size limits, bit-depth-keeping atomic writing, ICC / EXIF
metadata, and listing the images of a folder. Below the engine: it imports nothing from it."""

from .files import list_images, scan_images
from .image_io import read_image, read_image_with_metadata, write_image
from .metadata import ImageMetadata

__all__ = ["ImageMetadata", "list_images", "read_image", "read_image_with_metadata", "scan_images", "write_image"]
