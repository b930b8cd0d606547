"""Version of the gen3d package."""

__version__ = "0.1.0"
