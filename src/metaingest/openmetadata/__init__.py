"""OpenMetadata compatibility: its workflow file, its REST API, its Create*Request payloads.

- ``workflow_file``: detect, validate (official JSON Schemas, vendored in ``schemas/``) and
  map OpenMetadata's ``metadata ingest -c`` file onto metaingest's ``WorkflowConfig``;
- ``convert``: the same mapping printed as a native workflow file;
- ``client``: an httpx-based REST client with retries and one-line errors;
- ``push``: what the ``metadata-rest`` sink does: PUT in dependency order, delete at commit.

Nothing is imported here eagerly: ``config.load_config`` imports ``workflow_file`` only for
a file of OpenMetadata's shape.
"""
