// SPDX-License-Identifier: Apache-2.0
// Numbered editions of digital collectibles (ERC-1155): each id is one work with an edition cap;
// each unit is a whole collectible (never a share of one). The issuer creates editions and mints
// within the cap (burnt units do not free room); the regulator freezes an id or an account and
// pauses the contract. _update enforces all of it on every mint, transfer and burn.
pragma solidity ^0.8.24;

import {ERC1155} from "@openzeppelin/contracts/token/ERC1155/ERC1155.sol";
import {ERC1155Burnable} from "@openzeppelin/contracts/token/ERC1155/extensions/ERC1155Burnable.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

contract MingyueEditions is ERC1155, ERC1155Burnable, AccessControl, Pausable {
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");
    bytes32 public constant REGULATOR_ROLE = keccak256("REGULATOR_ROLE");

    mapping(uint256 => uint256) public editionCap;
    mapping(uint256 => uint256) public minted;
    mapping(uint256 => bytes32) public workHash;
    mapping(uint256 => bool) public tokenFrozen;
    mapping(address => bool) public accountFrozen;

    error EditionExists(uint256 id);
    error NoSuchEdition(uint256 id);
    error CapExceeded(uint256 id, uint256 cap);
    error TokenIsFrozen(uint256 id);
    error AccountIsFrozen(address account);

    event EditionCreated(uint256 indexed id, uint256 cap, bytes32 workHash);
    event TokenFreezeSet(uint256 indexed id, bool frozen);
    event AccountFreezeSet(address indexed account, bool frozen);

    constructor(string memory uri_, address issuer, address regulator) ERC1155(uri_) {
        _grantRole(DEFAULT_ADMIN_ROLE, issuer);
        _grantRole(MINTER_ROLE, issuer);
        _grantRole(REGULATOR_ROLE, regulator);
        _setRoleAdmin(REGULATOR_ROLE, REGULATOR_ROLE);
    }

    function createEdition(uint256 id, uint256 cap, bytes32 hash) external onlyRole(MINTER_ROLE) {
        if (editionCap[id] != 0) revert EditionExists(id);
        if (cap == 0) revert CapExceeded(id, 0);
        editionCap[id] = cap;
        workHash[id] = hash;
        emit EditionCreated(id, cap, hash);
    }

    function mint(address to, uint256 id, uint256 amount) external onlyRole(MINTER_ROLE) {
        uint256 cap = editionCap[id];
        if (cap == 0) revert NoSuchEdition(id);
        if (minted[id] + amount > cap) revert CapExceeded(id, cap);
        minted[id] += amount;
        _mint(to, id, amount, "");
    }

    function freezeToken(uint256 id, bool frozen) external onlyRole(REGULATOR_ROLE) {
        tokenFrozen[id] = frozen;
        emit TokenFreezeSet(id, frozen);
    }

    function freezeAccount(address account, bool frozen) external onlyRole(REGULATOR_ROLE) {
        accountFrozen[account] = frozen;
        emit AccountFreezeSet(account, frozen);
    }

    function pause() external onlyRole(REGULATOR_ROLE) {
        _pause();
    }

    function unpause() external onlyRole(REGULATOR_ROLE) {
        _unpause();
    }

    function _update(address from, address to, uint256[] memory ids, uint256[] memory values)
        internal
        override
        whenNotPaused
    {
        if (from != address(0) && accountFrozen[from]) revert AccountIsFrozen(from);
        if (to != address(0) && accountFrozen[to]) revert AccountIsFrozen(to);
        for (uint256 i = 0; i < ids.length; ++i) {
            if (tokenFrozen[ids[i]]) revert TokenIsFrozen(ids[i]);
        }
        super._update(from, to, ids, values);
    }

    function supportsInterface(bytes4 interfaceId)
        public
        view
        override(ERC1155, AccessControl)
        returns (bool)
    {
        return super.supportsInterface(interfaceId);
    }
}
