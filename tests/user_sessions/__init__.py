"""Helpers of tests/test_user_sessions.py: a real Jupyter kernel, scripts run as users run them."""
