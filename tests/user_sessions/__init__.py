"""Helpers of tests/test_user_sessions.py: a real Jupyter kernel and scripts run as users run them."""
