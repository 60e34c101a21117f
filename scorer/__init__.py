"""scorer: LLM-based relevance scoring for research papers."""
