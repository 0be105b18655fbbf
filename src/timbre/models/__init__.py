"""Networks of GPT-SoVITS v1/v2/v2Pro/v2ProPlus with the original parameter names: SoVITS, GPT, discriminators."""
