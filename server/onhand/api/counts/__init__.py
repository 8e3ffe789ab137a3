"""Reconciliation runs and cycle counts with their reviews."""
