-- 0012_signin: what GET /v1{vm}/signIn needs that only Azure knows, as the reconciler last read
-- it, so that the API answers from the store and never waits on Azure. signin_facts: per VM and
-- principal (both lowercase), the directory facts read from Microsoft Graph (her account, the
-- VM's device objects, Conditional Access policies, her recent sign-ins to the Azure Windows VM
-- Sign-In app), each section with its own status. vm_diagnostics: per VM, the last on-VM checks
-- run through ARM Run Command (dsregcmd /status, endpoints, local groups), parsed.
CREATE TABLE signin_facts (
    vm_key        TEXT NOT NULL,
    principal_key TEXT NOT NULL,
    directory     TEXT NOT NULL CHECK (json_valid(directory)),
    checked_at    INTEGER NOT NULL,
    PRIMARY KEY (vm_key, principal_key)
) STRICT;

CREATE TABLE vm_diagnostics (
    vm_key     TEXT PRIMARY KEY,
    result     TEXT NOT NULL CHECK (json_valid(result)),
    checked_at INTEGER NOT NULL
) STRICT;
