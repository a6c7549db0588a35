"""The shared machinery every protocol stands on, written once: the HTTP transport, the
SSE reader, the retry policy, the streaming loop and client base, message validation,
page scraping, and the result types. Nothing here knows a plugin."""
