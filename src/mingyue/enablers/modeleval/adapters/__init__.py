"""modeleval adapters: model endpoints behind the engine's ModelClient protocol (OpenAI-compatible
over HTTP, a local llama.cpp server, transformers in process) and the on-disk reply cache."""
