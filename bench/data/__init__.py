"""Data readers. Every reader returns :class:`bench.data.types.Sentence` lists with IOB2 tags."""
