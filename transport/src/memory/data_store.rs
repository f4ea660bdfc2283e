//! [`DataStore`] in process: the shared data.

use super::*;
use crate::DataStore;

impl DataStore for MemoryTransport {
    async fn data_version(&self) -> Result<u64, TransportError> {
        Ok(self.lock().data.0)
    }

    async fn load_data(&self) -> Result<(u64, fmn_core::Relations), TransportError> {
        Ok(self.lock().data.clone())
    }

    async fn import_data(&self, data: &fmn_core::Relations) -> Result<u64, TransportError> {
        let mut st = self.lock();
        st.data.1 = st.data.1.overlaid(data);
        st.data.0 += 1;
        Ok(st.data.0)
    }

    async fn apply_data(&self, changes: &[fmn_core::data::Change]) -> Result<u64, TransportError> {
        let mut st = self.lock();
        for c in changes {
            st.data.1.apply(c);
        }
        st.data.0 += 1;
        Ok(st.data.0)
    }
}
