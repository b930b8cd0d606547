"""Tests of gen3d.models.gans.pigan."""
