"""The kit's use-cases: STK Push, C2B, statements, reconciliation and event delivery."""
