"""Perdure conformance harness: runs the AWS durable-execution conformance requirements
(../shared/conformance/requirements) against Perdure's SDKs through the embedded store and the CLI.

Modules:
    values     bindings, Variables, substitution, JSON-typed equality
    history    ExpectedExecutionHistory matching
    result     ExpectedResult checking
    logs       ExpectedLogs checking (records scoped to one execution)
    callbacks  CallbackActions: which action answers which CallbackStarted, and the CLI call
    discovery  requirement files, handler files, NOT_IMPLEMENTED / TARGET_FUNCTION_NAME declarations
    runner     one case end to end (worker process, CLI, polling)
    main       command line
"""
