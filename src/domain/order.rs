//! Orders as the platforms describe them.

use super::vocabulary;

vocabulary! {
    /// The order statuses Maropost documents, written (and stored) exactly as Maropost does.
    pub enum OrderStatus {
        /// `Quote`
        Quote = "Quote",
        /// `New`
        New = "New",
        /// `On Hold`
        OnHold = "On Hold",
        /// `New Backorder`
        NewBackorder = "New Backorder",
        /// `Backorder Approved`
        BackorderApproved = "Backorder Approved",
        /// `Pick`
        Pick = "Pick",
        /// `Pack`
        Pack = "Pack",
        /// `Pending Pickup`
        PendingPickup = "Pending Pickup",
        /// `Pending Dispatch`
        PendingDispatch = "Pending Dispatch",
        /// `Dispatched`
        Dispatched = "Dispatched",
        /// `Cancelled`
        Cancelled = "Cancelled",
        /// `Uncommitted`
        Uncommitted = "Uncommitted",
    }
}
