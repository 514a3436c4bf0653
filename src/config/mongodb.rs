//! `[mongodb]`: the database host, the EBS volume its data lives on, and its daily snapshots.

use toml::Spanned;

use super::nodes::Instance;
use super::raw::RawMongodb;
use super::{ConfigError, SourceFile};

/// The MongoDB host and its data.
#[derive(Clone, Debug)]
pub struct Mongodb {
    /// Its root volume holds the system; the data has its own volume.
    pub instance: Instance,
    pub data_volume: DataVolume,
    /// Daily snapshots of the data volume kept by the lifecycle policy; 0: no daily snapshots.
    pub backup_keep: i32,
    /// Made before the stack and adopted (`ams-stack adopt`): kept as found where a change would
    /// replace it (its image, subnet, disks, key, groups, role and user data), its data on its
    /// root volume, without a data volume or daily snapshots until it is moved
    /// (docs/OPERATIONS.md).
    pub adopted: bool,
    /// The nodes log in as user `antmedia` with the password in SSM (the default); `false`: an
    /// adopted MongoDB that takes no password, as the guide's, which the nodes reach without one.
    pub auth: bool,
}

/// The encrypted gp3 volume mongod's dbPath is on.
#[derive(Clone, Debug, PartialEq)]
pub struct DataVolume {
    pub gib: i32,
    /// Provisioned IOPS; `None`: gp3's baseline (3000).
    pub iops: Option<i32>,
    /// Provisioned throughput in MiB/s; `None`: gp3's baseline (125).
    pub throughput: Option<i32>,
}

/// gp3's limits (EBS volume types: gp3 takes 1 GiB to 64 TiB, 3,000 to 80,000 IOPS at most 500
/// per GiB, 125 to 2,000 MiB/s at most 0.25 MiB/s per IOPS).
const GP3_GIB: (i32, i32) = (1, 65_536);
const GP3_IOPS: (i32, i32) = (3_000, 80_000);
const GP3_THROUGHPUT: (i32, i32) = (125, 2_000);

impl SourceFile<'_> {
    pub(super) fn mongodb(&self, raw: RawMongodb) -> Result<Mongodb, ConfigError> {
        let gib = self.within("mongodb.data_volume_gib", &raw.data_volume_gib, GP3_GIB)?;
        let gib = gib.unwrap_or(100);
        let iops = self.within("mongodb.data_volume_iops", &raw.data_volume_iops, GP3_IOPS)?;
        if let (Some(value), Some(raw_iops)) = (iops, &raw.data_volume_iops) {
            if value > gib.saturating_mul(500) {
                return Err(self.error(
                    "mongodb.data_volume_iops",
                    raw_iops,
                    format!(
                        "gp3 gives at most 500 IOPS per GiB: {gib} GiB takes at most {}",
                        gib.saturating_mul(500)
                    ),
                ));
            }
        }
        let key = "mongodb.data_volume_throughput";
        let throughput = self.within(key, &raw.data_volume_throughput, GP3_THROUGHPUT)?;
        if let (Some(value), Some(raw_throughput)) = (throughput, &raw.data_volume_throughput) {
            let most = iops.unwrap_or(GP3_IOPS.0) / 4;
            if value > most {
                return Err(self.error(
                    key,
                    raw_throughput,
                    format!("gp3 gives at most 0.25 MiB/s per IOPS: {} IOPS take at most {most} MiB/s (raise data_volume_iops)", iops.unwrap_or(GP3_IOPS.0)),
                ));
            }
        }
        let backup_keep = self.within("mongodb.backup_keep", &raw.backup_keep, (0, 1000))?;
        let adopted = raw.adopted.as_ref().is_some_and(|a| *a.get_ref());
        let auth = raw.auth.as_ref().is_none_or(|a| *a.get_ref());
        if let Some(no_auth) = raw.auth.as_ref().filter(|_| !auth && !adopted) {
            return Err(self.error(
                "mongodb.auth",
                no_auth,
                "a MongoDB without a password only as adopted (`adopted = true`): the MongoDB \
                 ams-stack makes always has one",
            ));
        }
        Ok(Mongodb {
            instance: Instance {
                instance_type: raw.instance_type,
                ami: raw.ami,
                key_name: raw.key_name,
                root_volume_gib: self.volume("mongodb", raw.root_volume_gib, 50)?,
            },
            data_volume: DataVolume {
                gib,
                iops,
                throughput,
            },
            backup_keep: backup_keep.unwrap_or(7),
            adopted,
            auth,
        })
    }

    /// The value of an optional integer key, refused outside `(least, most)`.
    pub(super) fn within(
        &self,
        key: &str,
        value: &Option<Spanned<i32>>,
        (least, most): (i32, i32),
    ) -> Result<Option<i32>, ConfigError> {
        match value {
            None => Ok(None),
            Some(v) if (least..=most).contains(v.get_ref()) => Ok(Some(*v.get_ref())),
            Some(v) => Err(self.error(
                key,
                v,
                format!("{} is out of range: {least} to {most}", v.get_ref()),
            )),
        }
    }
}
