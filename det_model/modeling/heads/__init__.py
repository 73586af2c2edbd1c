"""Detection heads: DBHead."""
