-- A platform schema shaped like multica's before its rollup: plain SQL migrations, not Django.
-- Extra columns NOT NULL with and without defaults, check constraints on status columns, a
-- RESTRICT key (an agent's runtime), a SET NULL key (a task's parent task), issue numbers unique
-- per workspace, every runtime of a task NOT NULL, and no task_usage.updated_at.
CREATE TABLE workspace (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL,
    slug text NOT NULL UNIQUE,
    description text NOT NULL DEFAULT '',
    settings jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE agent_runtime (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL REFERENCES workspace (id) ON DELETE CASCADE,
    name text NOT NULL,
    provider text NOT NULL DEFAULT '',
    status text NOT NULL DEFAULT 'offline' CHECK (status IN ('online', 'offline')),
    last_seen_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE agent (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL REFERENCES workspace (id) ON DELETE CASCADE,
    runtime_id uuid NOT NULL REFERENCES agent_runtime (id) ON DELETE RESTRICT,
    name text NOT NULL,
    runtime_mode text NOT NULL CHECK (runtime_mode IN ('local', 'cloud')),
    instructions text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE issue (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL REFERENCES workspace (id) ON DELETE CASCADE,
    number integer NOT NULL,
    title text NOT NULL,
    status text NOT NULL DEFAULT 'todo' CHECK (status IN ('todo', 'in_progress', 'done')),
    creator_type text NOT NULL CHECK (creator_type IN ('member', 'agent')),
    creator_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, number)
);

CREATE TABLE agent_task_queue (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    agent_id uuid NOT NULL REFERENCES agent (id) ON DELETE CASCADE,
    issue_id uuid REFERENCES issue (id) ON DELETE CASCADE,
    runtime_id uuid NOT NULL REFERENCES agent_runtime (id) ON DELETE CASCADE,
    parent_task_id uuid REFERENCES agent_task_queue (id) ON DELETE SET NULL,
    status text NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'dispatched', 'running', 'completed', 'failed')),
    priority integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz
);
CREATE INDEX idx_agent_task_queue_agent ON agent_task_queue (agent_id, status);
CREATE INDEX idx_agent_task_queue_runtime ON agent_task_queue (runtime_id, status);

CREATE TABLE task_usage (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    task_id uuid NOT NULL REFERENCES agent_task_queue (id) ON DELETE CASCADE,
    provider text NOT NULL DEFAULT '',
    model text NOT NULL,
    input_tokens bigint NOT NULL DEFAULT 0,
    output_tokens bigint NOT NULL DEFAULT 0,
    cache_read_tokens bigint NOT NULL DEFAULT 0,
    cache_write_tokens bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (task_id, provider, model)
);
CREATE INDEX idx_task_usage_created_at ON task_usage (created_at);
