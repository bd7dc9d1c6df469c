"""`fab tls`: certificates for every restored site name from an ACME CA (certbot,
HTTP-01 through Apache), HTTPS, redirect, renewal; WordPress moved to https://."""
