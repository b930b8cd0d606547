"""Tests of gen3d.evaluation."""
