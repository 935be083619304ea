/**
 * Names of snapshots and views ({@code Catalog}, {@code CatalogEntry}) over the store's
 * {@code catalog} database. Builds on store only.
 */
package io.cowfs.blockstore.catalog;
