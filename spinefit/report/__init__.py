"""HTML reports: page layout, figures and per-model sections."""
