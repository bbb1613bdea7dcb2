"""Who is calling, what they may see, and the record of what they did."""
