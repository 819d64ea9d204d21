//! Who is calling and what they may do.
//!
//! Every request carries a [`Principal`] resolved from its API key. Roles map
//! to permissions in exactly one place: [`Principal::require`].

use crate::error::{CoreError, Result};
use uuid::Uuid;

/// Roles of DESIGN §6. Plugins act as their own principal (`Plugin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Manager,
    Sales,
    Support,
    ReadOnly,
    Plugin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Sales => "sales",
            Role::Support => "support",
            Role::ReadOnly => "read_only",
            Role::Plugin => "plugin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Some(match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "admin" => Role::Admin,
            "manager" => Role::Manager,
            "sales" => Role::Sales,
            "support" => Role::Support,
            "read_only" | "readonly" => Role::ReadOnly,
            "plugin" => Role::Plugin,
            _ => return None,
        })
    }
}

/// What a command does to an entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Read,
    Create,
    Update,
    Delete,
    /// Tenant administration: users, keys, custom fields, plugins, settings.
    Administer,
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub tenant_id: Uuid,
    /// The API key used (for audit).
    pub key_id: Option<Uuid>,
    /// The user behind the key, if any.
    pub user_id: Option<Uuid>,
    pub role: Role,
    /// Extra scopes (`pii:read`, `read:contact`, `write:contact`, ...).
    pub scopes: Vec<String>,
    /// For plugin principals: the plugin acting.
    pub plugin: Option<String>,
}

impl Principal {
    /// A principal for internal work (demo seeding, imports run by an operator).
    pub fn system(tenant_id: Uuid) -> Self {
        Principal {
            tenant_id,
            key_id: None,
            user_id: None,
            role: Role::Admin,
            scopes: vec![],
            plugin: None,
        }
    }

    /// A plugin acting with the capabilities it was granted (`read:contact`, `write:task`, `kv`, `emit`).
    pub fn plugin(tenant_id: Uuid, plugin: &str, grants: Vec<String>) -> Self {
        Principal {
            tenant_id,
            key_id: None,
            user_id: None,
            role: Role::Plugin,
            scopes: grants,
            plugin: Some(plugin.to_string()),
        }
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope || s == "*")
    }

    /// Whether this principal may perform `action` on `entity`.
    pub fn may(&self, action: Action, entity: &str) -> bool {
        use Action::*;
        let sales_entities = [
            "contact", "company", "deal", "activity", "task", "order", "tag",
        ];
        let support_entities = ["contact", "company", "activity", "task", "ticket", "tag"];
        match self.role {
            Role::Admin => true,
            Role::Manager => action != Administer,
            Role::Sales => match action {
                Read => true,
                Create | Update => sales_entities.contains(&entity),
                Delete => ["activity", "task", "tag"].contains(&entity),
                Administer => false,
            },
            Role::Support => match action {
                Read => true,
                Create | Update => support_entities.contains(&entity),
                Delete => ["activity", "task"].contains(&entity),
                Administer => false,
            },
            Role::ReadOnly => action == Read,
            Role::Plugin => match action {
                Read => self.has_scope(&format!("read:{entity}")),
                Create | Update | Delete => self.has_scope(&format!("write:{entity}")),
                Administer => false,
            },
        }
    }

    /// Fail with `FORBIDDEN` unless [`Principal::may`] allows it.
    pub fn require(&self, action: Action, entity: &str) -> Result<()> {
        if self.may(action, entity) {
            Ok(())
        } else {
            Err(CoreError::Forbidden(format!(
                "role {} may not {} {entity}",
                self.role.as_str(),
                match action {
                    Action::Read => "read",
                    Action::Create => "create",
                    Action::Update => "update",
                    Action::Delete => "delete",
                    Action::Administer => "administer",
                }
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(role: Role) -> Principal {
        Principal {
            tenant_id: Uuid::nil(),
            key_id: None,
            user_id: None,
            role,
            scopes: vec![],
            plugin: None,
        }
    }

    #[test]
    fn roles_follow_the_matrix() {
        assert!(p(Role::Admin).may(Action::Administer, "plugin"));
        assert!(!p(Role::Manager).may(Action::Administer, "plugin"));
        assert!(p(Role::Manager).may(Action::Delete, "contact"));
        assert!(p(Role::Sales).may(Action::Create, "deal"));
        assert!(!p(Role::Sales).may(Action::Delete, "contact"));
        assert!(!p(Role::Sales).may(Action::Update, "ticket"));
        assert!(p(Role::Support).may(Action::Update, "ticket"));
        assert!(!p(Role::Support).may(Action::Create, "deal"));
        assert!(p(Role::ReadOnly).may(Action::Read, "deal"));
        assert!(!p(Role::ReadOnly).may(Action::Create, "contact"));
        assert!(
            p(Role::ReadOnly)
                .require(Action::Update, "contact")
                .is_err()
        );
    }

    #[test]
    fn plugin_principals_get_only_their_scopes() {
        let mut pl = p(Role::Plugin);
        pl.scopes = vec!["read:contact".into()];
        assert!(pl.may(Action::Read, "contact"));
        assert!(!pl.may(Action::Read, "deal"));
        assert!(!pl.may(Action::Update, "contact"));
    }

    #[test]
    fn role_names_round_trip() {
        for r in [
            Role::Admin,
            Role::Manager,
            Role::Sales,
            Role::Support,
            Role::ReadOnly,
        ] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("read-only"), Some(Role::ReadOnly));
        assert_eq!(Role::parse("root"), None);
    }
}
