"""Fetch datasets and files from URIs: transport (s3/https/file), safe tar extraction, dataset layout."""
