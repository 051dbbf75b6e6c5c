// SPDX-License-Identifier: Apache-2.0
// Anchors of evidence (存证): a Merkle root and its tree size, written once by the platform's
// anchoring key; the block's time is the anchor's time. Used for the evidence packages of IP
// pledge financing and for the signed heads of the platform's audit ledger.
pragma solidity ^0.8.24;

contract MingyueAnchor {
    address public immutable anchorer;
    mapping(bytes32 => uint256) public anchoredAt;

    error NotAnchorer(address caller);
    error AlreadyAnchored(bytes32 root);

    event Anchored(bytes32 indexed root, uint256 size, string kind, uint256 time);

    constructor(address anchorer_) {
        anchorer = anchorer_;
    }

    function anchor(bytes32 root, uint256 size, string calldata kind) external {
        if (msg.sender != anchorer) revert NotAnchorer(msg.sender);
        if (anchoredAt[root] != 0) revert AlreadyAnchored(root);
        anchoredAt[root] = block.timestamp;
        emit Anchored(root, size, kind, block.timestamp);
    }
}
