"""What is built on a client's ``stream()``: the OpenAI-style client, gpt4free
compatibility, failover, conversations, batches, notebooks, detection, health checks
and the command line. Each is imported only when used."""
