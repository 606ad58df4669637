-- 0017_activation_events: just-in-time activations in the event log (and so in GET /v1/events
-- and the webhook outbox, whose fan-out trigger 0015 put on events). 0015 allowed the six
-- activation.* types; 0016 made the activations table. An activation made active at once (no
-- approval) says requested then activated; one that waited says requested, then approved and
-- activated, or denied, or expired (the approval lapsed). An active one ends with its grant:
-- expired at the grant's expiry, deactivated when ended early or the grant was revoked. A
-- cancelled (still pending) request is activation.deactivated too: there is no type of its own.
CREATE TRIGGER events_activation_ins AFTER INSERT ON activations
BEGIN
    INSERT INTO events (at, type, scope, data) VALUES (NEW.created_at, 'activation.requested',
        NEW.scope_key, json_object('activationId', NEW.id, 'eligibilityId', NEW.eligibility_id,
                                   'role', NEW.role, 'principalId', NEW.principal_id,
                                   'requestedBy', NEW.requested_by, 'state', NEW.state));
    INSERT INTO events (at, type, scope, data)
    SELECT NEW.created_at, 'activation.activated', NEW.scope_key,
           json_object('activationId', NEW.id, 'role', NEW.role, 'principalId', NEW.principal_id,
                       'grantId', NEW.grant_id, 'expiresAt', NEW.expires_at, 'state', NEW.state)
     WHERE NEW.state = 'active';
END;

CREATE TRIGGER events_activation_upd AFTER UPDATE OF state ON activations
WHEN OLD.state IS NOT NEW.state
BEGIN
    INSERT INTO events (at, type, scope, data)
    SELECT NEW.updated_at,
           CASE NEW.state WHEN 'active' THEN 'activation.approved'
                          WHEN 'denied' THEN 'activation.denied'
                          WHEN 'expired' THEN 'activation.expired'
                          ELSE 'activation.deactivated' END,
           NEW.scope_key,
           json_object('activationId', NEW.id, 'role', NEW.role, 'principalId', NEW.principal_id,
                       'state', NEW.state, 'decidedBy', NEW.decided_by, 'reason', NEW.reason)
     WHERE NEW.state IN ('active', 'denied', 'expired', 'cancelled', 'deactivated');
    INSERT INTO events (at, type, scope, data)
    SELECT NEW.updated_at, 'activation.activated', NEW.scope_key,
           json_object('activationId', NEW.id, 'role', NEW.role, 'principalId', NEW.principal_id,
                       'grantId', NEW.grant_id, 'expiresAt', NEW.expires_at, 'state', NEW.state)
     WHERE NEW.state = 'active';
END;

-- An active activation ends with its grant: at expiry, or when the grant is revoked directly.
CREATE TRIGGER events_activation_grant_end AFTER UPDATE OF state ON login_grants
WHEN NEW.activation_id IS NOT NULL AND OLD.state IS NOT NEW.state
     AND NEW.state IN ('expired', 'revoked', 'failed')
BEGIN
    INSERT INTO events (at, type, scope, data)
    SELECT NEW.updated_at,
           CASE NEW.state WHEN 'expired' THEN 'activation.expired' ELSE 'activation.deactivated' END,
           a.scope_key,
           json_object('activationId', a.id, 'role', a.role, 'principalId', a.principal_id,
                       'grantId', NEW.id, 'grantState', NEW.state)
      FROM activations a WHERE a.id = NEW.activation_id AND a.state = 'active';
END;
