"""Reconstruction networks behind a registry (`ptycho_nl.models.registry`)."""
