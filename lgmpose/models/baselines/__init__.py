"""Re-implemented baselines the paper compares against (Lite-HRNet, MobileNetV2 + SimpleBaseline)."""
