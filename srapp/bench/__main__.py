"""``make bench``: every benchmark in turn."""

from .memory import main as memory_main

if __name__ == "__main__":
    memory_main()
