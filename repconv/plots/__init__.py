"""Figures, drawn from saved result files (JSON); plotting owns no maths."""
