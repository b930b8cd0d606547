"""Tests of gen3d.models.rendering."""
