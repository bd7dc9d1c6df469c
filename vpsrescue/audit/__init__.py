"""`fab audit`: hardening controls read from the server itself, with Lynis beside them."""
