"""Hamacho desktop application (PySide6).  The GUI is built in a later issue; the core is usable now."""
