"""Streamlit dashboard comparing scenario results (no model logic lives here)."""
