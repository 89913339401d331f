"""``make bench``: every benchmark in turn."""

from .backends import main as backends_main
from .bounded import main as bounded_main
from .inference import main as inference_main
from .memory import main as memory_main
from .precision import main as precision_main

if __name__ == "__main__":
    memory_main()
    bounded_main([])
    inference_main([])
    precision_main([])
    backends_main([])
