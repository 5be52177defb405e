"""Storage of dsp."""
