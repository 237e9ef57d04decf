"""Who is asking: registered clients, their tokens, and per-organisation pseudonyms."""
