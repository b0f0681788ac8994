"""gi.repository modules are "missing" to modulegraph: made run-time modules so that the hook runs."""


def pre_safe_import_module(api):
    api.add_runtime_module(api.module_name)
