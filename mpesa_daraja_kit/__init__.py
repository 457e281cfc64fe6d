"""mpesa_daraja_kit."""
