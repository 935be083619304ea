/**
 * The storage layer: the store directory ({@code Store}, {@code StoreFormat}), pack files of
 * chunk records ({@code Packs}, {@code PackRecord}, {@code PackWriter}, {@code PackReaders}),
 * and the LMDB index ({@code StoreIndex}) with one typed table per database ({@code Db}),
 * its checks against damage ({@code LmdbPages}, {@code SafeReader}, {@code MappedFile},
 * {@code Seal}) and its repair ({@code Salvage}, {@code IndexRepair}). The on-disk format is
 * docs/FORMAT.md. Imports nothing of catalog, tree, view or gc (they build on it), nor FUSE.
 */
package io.cowfs.blockstore.store;
