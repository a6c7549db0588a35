"""One module per chatbot plugin generation. A protocol module only speaks its plugin:
it reads the page, builds the request(s), classifies an answer and turns events into
text; the shared loop in :mod:`chatgpt_providers.core` does everything else."""
