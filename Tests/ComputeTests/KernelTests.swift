// Tests land with the Qwen2 engine.
