"""Who is asking: registered organisations and their clients, tokens, throttling, and per-organisation pseudonyms."""
