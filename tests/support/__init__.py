"""Helpers several test layers share."""
