"""Reconstruction: stitching network patches and the iterative ePIE / rPIE / LSQML solvers."""
